"""Code shared by every Lambda function; ships as the SharedLayer (mounted at /opt/python on AWS)."""
