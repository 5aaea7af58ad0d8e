"""What the encoder decides per image, within the levers it is given (levers.py): value sets,
palettes, sharpness and stored tiles (adapt.py), the head refitted (tune.py) and every layer's
channels refitted (channel_tuning.py). The decoder only reads what they chose from the header."""
