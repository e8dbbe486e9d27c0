"""Image reading, degradations and test-set lookup for image restoration.

Submodules are imported explicitly (`from data import degradations`) so that
importing this package stays cheap and free of TensorFlow.
"""
