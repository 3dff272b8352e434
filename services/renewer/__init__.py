"""The renewer: starts each renewal on time, as a new request in the certificate's lineage."""
