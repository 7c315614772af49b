"""Run directories: what a run writes and how it is read back (:mod:`~hourglass.runs.store`),
the train/evaluate/sample workflow over them (:mod:`~hourglass.runs.workflow`) and run settings
from TOML/JSON files (:mod:`~hourglass.runs.config_file`)."""

from hourglass.runs.store import (build_model, format_bytes, load_model, memory_bytes, read_config,
                                  read_metrics, save_weights, state_bytes, write_config)

__all__ = ["build_model", "format_bytes", "load_model", "memory_bytes", "read_config",
           "read_metrics", "save_weights", "state_bytes", "write_config"]
