"""Where ML code lives: callbacks for training frameworks and the notebook magics.

Each module imports its framework, so import the one you use (nothing here is
imported by ``import wattprint``):

* :mod:`wattprint.integrations.transformers`: ``WattprintCallback`` /
  ``track_trainer`` for the Hugging Face ``Trainer`` (model card included) and
  ``GenerationMeter`` for ``generate()`` and pipelines;
* :mod:`wattprint.integrations.lightning`: a PyTorch Lightning ``Callback``;
* :mod:`wattprint.integrations.keras`: a Keras 3 ``Callback``;
* :mod:`wattprint.integrations.jupyter`: ``%%wattprint`` and ``%wattprint``
  (``%load_ext wattprint``).

Without its framework, a module raises one ``ImportError`` line naming the
package and the extra that installs it. Guide: ``docs/frameworks.md``.
"""
