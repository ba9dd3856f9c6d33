from dsrsd.model.dsrsd_net import DSRSDNet, DSRSDOutput

__all__ = ["DSRSDNet", "DSRSDOutput"]
