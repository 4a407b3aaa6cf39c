"""Teacher inference, once, with Ray Data: soft labels and difficulty into verified shards."""
