"""Where collections come from: the built-in demo generator, NGA open data, WikiArt with the ArtGAN splits."""
