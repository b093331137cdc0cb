"""Rule expression language (CRE): parse, check, compile to SQL, evaluate. No domain knowledge."""
