"""Using a trained model: batch prediction, the HTTP server and ONNX export."""
