"""Stage 3, build: the Debian base, the hashed wheelhouse, the service images and their SBOMs.

May import the ground floor (nbship.docker, version, paths, errors, files) and nbship.notebooks
(the exported cells it hashes); never registry/ or deploy/.
"""
