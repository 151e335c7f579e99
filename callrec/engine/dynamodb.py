"""Ledger records for moto's DynamoDB backend: atomic requests and transactions that do not copy tables."""

from __future__ import annotations

import collections
import copy
import functools
import pickle
import threading
from typing import Any

from callrec.engine.ledger import Patch, unwrap

DYNAMODB = "moto.dynamodb"
_lock = threading.RLock()


def _one_at_a_time(original):
    def call_action(self):
        """On AWS every request is atomic; moto's backend is not thread-safe (concurrent requests crash with
        'dictionary changed size during iteration'). One request at a time."""
        with _lock:
            return original(self)

    return call_action


def _table_kept(_original):
    def __deepcopy__(self, memo):
        """A transaction's backup of a whole table is the table itself: `transact_write_items` (the record
        below) keeps the items the transaction targets instead. A copy of moto's whole state
        (callrec.engine.snapshot) copies the table."""
        from callrec.engine import snapshot

        if not snapshot.copying():
            return self
        table = object.__new__(type(self))
        memo[id(self)] = table  # what refers back to the table (its stream) refers to the copy
        table.__dict__.update(copy.deepcopy(vars(self), memo))
        return table

    return __deepcopy__


def _rollback_items(original):
    def transact_write_items(self, transact_items: list[dict[str, Any]]) -> None:
        """All or nothing, as on AWS: if the transaction fails, each item it targeted is put back as it was."""
        before = []
        for entry in transact_items[:100]:
            operation = next(iter(entry.values()), {})
            table = self.tables.get(operation.get("TableName")) if isinstance(operation, dict) else None
            if table is None:
                continue
            key = operation.get("Key") or {
                name: operation.get("Item", {}).get(name)
                for name in (table.hash_key_attr, table.range_key_attr)
                if name
            }
            try:
                current = self.get_item(table.name, key)
            except Exception:  # noqa: BLE001 - a malformed key: moto's own code answers it below
                continue
            before.append((table.name, key, copy.deepcopy(current)))
        try:
            original(self, transact_items)
        except Exception:
            for table_name, key, item in reversed(before):
                if item is None:
                    self.delete_item(table_name, key)
                else:
                    self.put_item(table_name, item.to_json()["Attributes"])
            raise

    return transact_write_items


def _update_streams_once(original):
    def update_item(self, table_name, key, *args, **kwargs):
        """An UpdateItem that creates its item is one change on the table's stream (INSERT), as DynamoDB writes
        it. moto first puts the key-only item (a stream record of its own), then updates it (a second INSERT):
        a stream reader saw each new session twice. The shard takes no record during the call, then this one:
        safe, as DynamoDB requests run one at a time (dynamodb-one-request-at-a-time) and stream readers (which
        are not under that lock) only read the shard, which stays in place."""
        table = self.get_table(table_name)
        shard = table.stream_shard
        if shard is None or self.get_item(table_name, key) is not None:
            return original(self, table_name, key, *args, **kwargs)
        shard.add = lambda old, new: None  # this shard only, for this call
        try:
            item = original(self, table_name, key, *args, **kwargs)
        finally:
            del shard.add
        shard.add(None, item)
        return item

    return update_item


def _query_one_partition(original):
    def query(self, hash_key, *args, **kwargs):
        """A query on the table itself reads the one partition it names, as DynamoDB does. moto gathered and
        sorted every item of the table for each query, then kept the partition's: a cost that grew with all
        calls made (the signal and audit tables hold every session's items). Safe to narrow in place: requests
        run one at a time (the record above)."""
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name or not self.range_key_attr:
            return original(self, hash_key, *args, **kwargs)
        partition = self.items.get(hash_key, {}) if hash_key is not None else {}
        self.all_items = lambda: sorted(partition.values(), key=lambda item: item.range_key)
        try:
            return original(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items

    return query


_PARSED_KEPT = 4096  # distinct expressions kept (the stack's code has a few dozen)


def _lexed_once(original):
    lexed: dict[str, tuple] = {}

    def _lex_condition_expression(self):
        """A condition expression's tokens, cut once per expression text: they depend on the text alone, and are
        immutable (named tuples, no children yet); every request matched seven regular expressions per token again
        (1.5% of a test run's CPU). Each call gets its own deque: the parser consumes it."""
        text = self.condition_expression
        nodes = lexed.get(text)
        if nodes is None:
            nodes = tuple(original(self))
            if len(lexed) < _PARSED_KEPT:
                lexed[text] = nodes
        return collections.deque(nodes)

    return _lex_condition_expression


def _update_parsed_once(original):
    """An UpdateExpression's tree, parsed once per class and text (moto parsed each one twice per request: to check
    its names and values, then to apply it; 1.6% of a test run's CPU). Shared, as moto never changes it: its checks
    only read it, and the validator that resolves it works on its own deep copy. That copy is made from the tree's
    pickle, taken once (copy.deepcopy walked the tree in Python at every UpdateItem: another 1.6%; 192 -> 29 us for
    a four-clause expression). A tree that does not pickle is deep-copied as moto does."""
    parse = unwrap(original)

    @functools.lru_cache(maxsize=_PARSED_KEPT)
    def make(cls: Any, expression: str) -> Any:
        tree = parse(cls, expression)
        try:
            pickled = pickle.dumps(tree, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError, RecursionError):
            return tree
        # copy.deepcopy(tree) asks the tree itself first: the copy is a new tree, the shared one is left alone
        tree.__deepcopy__ = functools.partial(_unpickled, pickled)
        return tree

    return classmethod(make)


def _unpickled(pickled: bytes, _memo: Any) -> Any:
    return pickle.loads(pickled)  # noqa: S301 - pickled by _update_parsed_once, from moto's own tree


def _traversed_by_type(original):
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser, Node

    visit_one = DepthFirstTraverser.traverse_node_recursively
    is_node: dict[type, bool] = {}  # per class: a Node? (its ABC's isinstance was a Python call per node and pass)
    processed: dict[tuple[tuple[type, ...], type], bool] = {}  # per traverser's node classes and class

    def traverse(self, node):
        """moto's depth-first traversal (DepthFirstTraverser.traverse_node_recursively), with what it asked again
        of every node answered once: the classes a traverser processes (a dict and a tuple built per node), and
        whether a node's class is one of them, or a Node at all (isinstance against an abstract base class). An
        UpdateItem's validation makes ten passes over its tree: 3% of a test run's CPU. A traverser that
        overrides the traversal itself gets moto's."""
        if type(self).traverse_node_recursively is not visit_one:
            return original(self, node)
        kinds = self.nodes_to_be_processed()

        def visit(node, child_id=-1):
            cls = type(node)
            node_class = is_node.get(cls)
            if node_class is None:
                node_class = is_node[cls] = isinstance(node, Node)
            if not node_class:
                return node
            parent_node = node.parent
            if node.children is not None:
                for i, child_node in enumerate(node.children):
                    self.pre_processing_of_child(node, i)
                    visit(child_node, i)
            key = (kinds, cls)
            to_process = processed.get(key)
            if to_process is None:
                to_process = processed[key] = isinstance(node, kinds)
            if to_process:
                node = self.process(node)
                node.parent = parent_node
                if parent_node:
                    parent_node.children[child_id] = node
            return node

        return visit(node)

    return traverse


RECORDS = (
    Patch(
        "update-item-streams-one-insert",
        f"{DYNAMODB}.models:DynamoDBBackend.update_item",
        _update_streams_once,
        "fix",
        "An UpdateItem that creates its item wrote two INSERT records to the table's stream (the key-only item moto "
        "puts first, then the updated one); DynamoDB writes one. A stream reader (RecordingStateEvents) saw every "
        "new session twice.",
        "not reported upstream yet",
        uses=(
            f"{DYNAMODB}.models:DynamoDBBackend.get_table",
            f"{DYNAMODB}.models:DynamoDBBackend.get_item",
            f"{DYNAMODB}.models.table:StreamShard.add",
        ),
    ),
    Patch(
        "dynamodb-one-request-at-a-time",
        f"{DYNAMODB}.responses:DynamoHandler.call_action",
        _one_at_a_time,
        "fix",
        "Every DynamoDB request is atomic on AWS; moto's backend is not thread-safe, and concurrent requests (the "
        "workflow's tasks, the entry points) crashed with 'dictionary changed size during iteration'. A race: "
        "it has no deterministic scenario; the 200-call load test is its evidence.",
        "not reported upstream yet",
    ),
    Patch(
        "transaction-keeps-tables",
        f"{DYNAMODB}.models.table:Table.__deepcopy__",
        _table_kept,
        "speed",
        "moto deep-copied every table a transaction touched, for its rollback: a cost that grew with the tables "
        "(with every call made).",
        "not reported upstream yet",
        adds=True,
    ),
    Patch(
        "transaction-rolls-back-items",
        f"{DYNAMODB}.models:DynamoDBBackend.transact_write_items",
        _rollback_items,
        "speed",
        "With tables no longer copied, the items a failed transaction targeted are put back one by one "
        "(the rollback moto's table copy gave).",
        "not reported upstream yet",
    ),
    Patch(
        "query-reads-one-partition",
        f"{DYNAMODB}.models.table:Table.query",
        _query_one_partition,
        "speed",
        "A query on a table sorted every item of the table to keep one partition's: with many calls each signal "
        "and audit query cost more (200 calls at once: Lambda timeouts).",
        "not reported upstream yet",
        uses=(f"{DYNAMODB}.models.table:Table.all_items",),
    ),
    Patch(
        "condition-lexed-once",
        f"{DYNAMODB}.comparisons:ConditionExpressionParser._lex_condition_expression",
        _lexed_once,
        "speed",
        "Every condition expression was cut into tokens again at each request, seven regular expressions tried "
        "per token: 1.5% of a test run's CPU. The tokens are kept per expression text.",
        "not reported upstream yet",
    ),
    Patch(
        "update-expression-parsed-once",
        f"{DYNAMODB}.parsing.expressions:UpdateExpressionParser.make",
        _update_parsed_once,
        "speed",
        "Every UpdateExpression was parsed twice per request (once to check its placeholders, once to apply it): "
        "1.6% of a test run's CPU. The tree is kept per expression text; moto only reads it (the validator "
        "resolves a deep copy).",
        "not reported upstream yet",
    ),
    Patch(
        "update-expression-traversed-by-type",
        f"{DYNAMODB}.parsing.ast_nodes:DepthFirstTraverser.traverse",
        _traversed_by_type,
        "speed",
        "An UpdateItem's validation passes over its expression's tree ten times, and each pass asked of every node "
        "whether it is a Node (isinstance against an abstract base class, a Python call) and rebuilt the classes "
        "it processes: 3% of a test run's CPU. Both are answered once per class.",
        "not reported upstream yet",
        uses=(
            f"{DYNAMODB}.parsing.ast_nodes:DepthFirstTraverser.traverse_node_recursively",
            f"{DYNAMODB}.parsing.ast_nodes:DepthFirstTraverser.nodes_to_be_processed",
            f"{DYNAMODB}.parsing.ast_nodes:DepthFirstTraverser.pre_processing_of_child",
            f"{DYNAMODB}.parsing.ast_nodes:DepthFirstTraverser.process",
            f"{DYNAMODB}.parsing.ast_nodes:Node",
        ),
    ),
)
