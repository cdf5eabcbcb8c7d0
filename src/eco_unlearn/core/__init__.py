"""What runs per request: model loading, token selection, embedding corruptions and the ECOModel that
gates a prompt, corrupts its selected embeddings and runs the LM on ``inputs_embeds``."""
