"""System and per-user settings (`app.settings`): values, secrets sealed per user, and what a turn may use.

    values        what a key, a value, a secret and a description may be; how JSON reads in a template
    repository    the SQL, and sealing secrets under the user's (or the system's) derived key
    turn_secrets  the secrets one turn may use: the http_get resolver and the scrubber
"""
