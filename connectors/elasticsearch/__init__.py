"""Elasticsearch / OpenSearch connector package: see connector.py."""

from connectors.elasticsearch.connector import ElasticsearchConnector

__all__ = ["ElasticsearchConnector"]
