"""The public certificate check (证书查验): anyone may verify a vaccination e-certificate."""
