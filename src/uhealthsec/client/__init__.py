"""The Python SDK and the ``uhs`` command line. All cryptography happens here, on the device."""
