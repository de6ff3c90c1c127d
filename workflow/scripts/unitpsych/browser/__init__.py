"""Browser (rule file browser.smk): a static site with a page per model and per shown unit, its
exemplars, feature visualisations, MIS and experiment scores, that opens from disk.

Beyond the paper. Built from the pipeline's result files after every other stage; see
docs/browser.md.
"""

from unitpsych.browser.build import build_site
from unitpsych.browser.site import Settings

__all__ = ["Settings", "build_site"]
