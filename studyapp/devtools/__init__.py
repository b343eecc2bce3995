"""Development and test tools, not part of the product: the scripted model server.

Product apps never import this package (tests/devtools/test_boundary.py checks it).
"""
