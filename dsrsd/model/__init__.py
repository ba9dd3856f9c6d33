from dsrsd.model.dsrsd_net import DSRSDNet, DSRSDOutput
from dsrsd.model.registry import GBDT, architecture_for, build_model, is_known_architecture

__all__ = ["GBDT", "DSRSDNet", "DSRSDOutput", "architecture_for", "build_model", "is_known_architecture"]
