"""`python -m unitpsych.server serve ...`: the same as the `unitpsych serve` command."""

from unitpsych.server.app import main

if __name__ == "__main__":
    main()
