"""unitpsych: measuring the mechanistic interpretability of vision-model units.

One sub-package per stage, named like the rule file that runs it, around a small base:

- base: `io` (atomic writes, logging, seeds), `paths` (every file of the pipeline), `config`
  (checks across config keys), `images` (the image set), `ui_layout` (an experiment folder as the
  UI reads it), `cli` (the `unitpsych` command).
- `RULE_FILES` maps each rule file (workflow/rules/<name>.smk) to the sub-package behind its
  scripts; the server has no rule file (`unitpsych serve`).
"""

__version__ = "0.1.0"

RULE_FILES = {
    "units": "unitpsych.units",
    "accuracy": "unitpsych.accuracy",
    "activations": "unitpsych.activations",
    "exemplars": "unitpsych.exemplars",
    "visualizations": "unitpsych.visualizations",
    "experiments": "unitpsych.experiments",
    "observer": "unitpsych.observer",
    "responses": "unitpsych.responses",
    "analysis": "unitpsych.analysis",
    "figures": "unitpsych.figures",
    "browser": "unitpsych.browser",
}
