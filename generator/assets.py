"""Files the package ships: the chart, the schemas, the policies, the templates."""

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
CHART_DIR = PACKAGE_DIR / "chart"
POLICIES_DIR = PACKAGE_DIR / "policies"
SCHEMAS_DIR = PACKAGE_DIR / "schemas"
TEMPLATES_DIR = PACKAGE_DIR / "templates"
SPEC_SCHEMA = SCHEMAS_DIR / "strategy.schema.json"
