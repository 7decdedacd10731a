# the framework integrations' tests (tests/test_integrations_*.py, tests/test_jupyter*.py) drive the
# real libraries on CPU: Hugging Face transformers (+ accelerate for Trainer, huggingface_hub for
# the model card), Lightning, Keras 3 (torch backend), JAX (CPU, the plain-loop example in
# docs/frameworks.md) and a notebook run by nbclient on an IPython kernel. After 30-torch.sh:
# these keep the pinned CPU torch (checked: torch stays 2.13.0+cpu; jax adds scipy, ml_dtypes).
# Pinned to versions tried together (install ~2 min).
export KERAS_BACKEND="${KERAS_BACKEND:-torch}"  # Keras 3 defaults to TensorFlow, which is not installed
"$VENV/bin/python" -c "import transformers, accelerate, lightning, keras, huggingface_hub, nbclient, nbformat, ipykernel" 2>/dev/null \
  || "$VENV/bin/pip" install --quiet "transformers==4.57.1" "accelerate==1.11.0" "lightning==2.5.6" \
       "keras==3.12.0" "huggingface_hub==0.36.0" "nbclient==0.10.2" "nbformat==5.10.4" "ipykernel==7.1.0"
"$VENV/bin/python" -c "import jax" 2>/dev/null || "$VENV/bin/pip" install --quiet "jax==0.10.2" "jaxlib==0.10.2"
