"""popcen: the library behind the popcen Snakemake pipeline.

Every rule's script is a thin wrapper that reads the ``snakemake`` object and calls a function of this
package; all logic lives here so that it can be imported and unit-tested without Snakemake.
"""

__version__ = "0.1.0"
