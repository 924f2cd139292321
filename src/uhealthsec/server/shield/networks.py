"""The network a client address belongs to: what the shield and the read budgets count
by (a network, not an address: an attacker rents a whole one)."""

from __future__ import annotations

import ipaddress


def network_of(client_ip: str | None) -> str | None:
    """The network an address belongs to, as attackers rent them: IPv4 /24, IPv6 /64."""
    if not client_ip:
        return None
    try:
        ip = ipaddress.ip_address(client_ip)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 64
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))
