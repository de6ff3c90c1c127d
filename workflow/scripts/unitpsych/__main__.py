"""`python -m unitpsych ...`: the `unitpsych` command without installing it."""

from unitpsych.cli import main

if __name__ == "__main__":
    main()
