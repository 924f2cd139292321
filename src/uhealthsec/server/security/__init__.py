"""What the server's domains share to keep secrets and withstand attacks, outside any
one domain: the hashing of authentication secrets, the access-token keyring and its
keys' table, and the shield's memory within one process. Domains import these; these
import no domain."""
