"""The web app over the warehouse (`callscope serve`): search, calls, trends, incidents.

Nothing in the nightly stages imports this package.
"""
