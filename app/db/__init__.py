"""Database access: connection pools, migrations, repositories."""
