import pytest

from app.factory import close_app, create_app


@pytest.fixture
def app_client():
    """`app_client(settings)`: a Flask test client of a fresh app; every app made is closed after the test,
    so its database pools and Redis connections do not outlive it."""
    apps = []

    def make(settings):
        app = create_app(settings)
        apps.append(app)
        return app.test_client()

    yield make
    for app in apps:
        close_app(app)


@pytest.fixture(scope="module")
def app(database):
    """One app per test module, on the session's migrated database."""
    application = create_app(database)
    yield application
    close_app(application)


@pytest.fixture
def client(app):
    return app.test_client()
