"""Model-written SQL: `guard` decides whether a statement may run, `executor` runs it as the end user,
`results` shapes what comes back, `audit` records every attempt, `operations` names the statement kinds.

Nothing is re-exported here: `config` imports `app.sql.operations`, which must not load the guard's parser.
"""
