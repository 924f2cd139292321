"""Work that spans domains, one module per flow, above every domain it reads.

No domain imports a flow: each flow implements what a lower domain declared it
needs (that domain's ``interfaces.py``), and server/wiring.py registers it at start.
"""
