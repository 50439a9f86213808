#!/usr/bin/env python3
"""The `earshot-client` command of the Python client package (clients/python), runnable from a checkout.

    pip install ./clients/python          # then: earshot-client --help
    python3 examples/python/earshot_client.py --socket /run/earshot/earshot.sock listen --start oldest

Without the package installed, this uses the copy in the checkout (clients/python/earshot).
"""

import os
import sys

try:
    import earshot.cli
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))
    import earshot.cli

earshot.cli.main()
