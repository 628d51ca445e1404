"""persistence room: schema, migrations, repositories and the credential vault (see DESIGN.md).

Public entry points: `database.make_engine`, `migrate.upgrade/check_at_head`,
`repository.Repository` (implemented by `sql_repository.SqlRepository` and
`memory.MemoryRepository`), `records` (the values handed out), `vault.Vault`/`load_keyring` and
`credentials` (store, replace, load, rotate). ORM classes in `models` never leave this package.
"""
