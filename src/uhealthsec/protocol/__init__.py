"""Wire formats shared by the server and its clients."""
