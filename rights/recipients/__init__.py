"""Who images were handed to, and the Art. 17(2) / Art. 19 notices that chase them after an erasure.

May import: rights.lifecycle, rights.models, matching's models. Never a pipeline, staff or upkeep
module (the pipeline and upkeep call it), rights.tasks or rights.jobs.
"""
