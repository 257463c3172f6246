"""Test-session setup shared by every test module."""

import os

# scikit-learn's check_array_api_input runs only when SciPy's array API support is on,
# and SciPy reads this variable when it is first imported, so set it before any import.
os.environ.setdefault("SCIPY_ARRAY_API", "1")
