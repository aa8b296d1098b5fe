"""Outbound HTTP that a model may ask for, with the server-side request forgery defence around it.

    addresses     which IP addresses may be connected to, and the IPv4 literal forms refused
    urls          one strict URL parser: what it returns is exactly what is checked and sent
    destinations  the allow-list match (exact host, `*.` wildcards, ports) and the scheme rule
    transport     connections pinned to checked addresses, under one deadline for the whole request
    guarded_http  the GET client: checks, resolution, redirects, caps and decoding
"""
