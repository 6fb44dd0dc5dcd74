from tests.demo_fixtures import demo, demo_oracle, demo_runtime  # noqa: F401 - fixtures
