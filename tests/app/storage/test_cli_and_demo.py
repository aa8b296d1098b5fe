"""`fluxbase storage buckets create | list` as a user runs them, and the demo's `reports` bucket."""
import uuid

from app.demo.storage import DEMO_BUCKETS, ensure_demo_buckets
from app.storage import repository as repo
from tests.support.processes import fluxbase


def test_buckets_create_then_list(base_env, database, owner_conn):
    name = f"cli-{uuid.uuid4().hex[:8]}"
    done = fluxbase(base_env, "storage", "buckets", "create", name, "--policy", "public-read")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"created bucket {name} (public-read)"
    assert repo.get_bucket(owner_conn, name).policy == "public-read"

    again = fluxbase(base_env, "storage", "buckets", "create", name)
    assert again.returncode == 1 and f"bucket {name} exists already (policy public-read)" in again.stderr

    listing = fluxbase(base_env, "storage", "buckets", "list")
    assert listing.returncode == 0, listing.stderr
    assert any(name in line and "public-read" in line for line in listing.stdout.splitlines()), listing.stdout


def test_bad_bucket_names_and_policies_are_refused(base_env, database):
    done = fluxbase(base_env, "storage", "buckets", "create", "../etc")
    assert done.returncode == 2 and "bucket name '../etc' is not valid" in done.stderr
    done = fluxbase(base_env, "storage", "buckets", "create", "fine-name", "--policy", "world-writable")
    assert done.returncode == 2 and "invalid choice: 'world-writable'" in done.stderr


def test_the_demo_reports_bucket_is_created_once_and_private(database, owner_conn):
    assert DEMO_BUCKETS == {"reports": "private"}
    ensure_demo_buckets(database)   # created by this call or an earlier one
    assert ensure_demo_buckets(database) == ()
    assert repo.get_bucket(owner_conn, "reports").policy == "private"
