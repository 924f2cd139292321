"""The Python SDK and the ``uhs`` command line. All cryptography happens here, on the device."""

#: The server a profile talks to unless told otherwise (``--server``, ``UHS_SERVER``).
DEFAULT_SERVER = "http://127.0.0.1:8000"
