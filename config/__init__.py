"""config room: the onboarding file (schema, loader, checks), credentials, and logging setup.

Read by `app` only; everything below receives settings as values (DESIGN.md).

- `config.loader.load_config(path) -> ServiceConfig`, raising one `ConfigError`
- `config.secrets.resolve_credentials / resolve_all_credentials / lookup_credentials /
  resolve_master_key / private_file_problem`
- `config.numbers.number_problem / text_problem`: the bounds on numbers users type
- `config.logging.configure_logging / register_secret / bound_context / get_logger` (the
  secret registry itself is `domain.secrets`; `config.masking` masks it in one pass)
"""
