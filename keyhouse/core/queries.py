"""Reads on every request's path, with their SQL compiled once instead of per call."""

from __future__ import annotations

from typing import Any
from weakref import WeakKeyDictionary

from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model


class PrimaryKeyLookup[M: Model]:
    """``model.objects.filter(pk=...).first()`` with the SQL compiled once per connection.

    Django builds and compiles a query anew on every call, and for a lookup by primary
    key that costs several times what the database takes to answer it. This compiles the
    query once, with every concrete field, no ordering and no related object, then only
    runs it: the row still goes through the backend's and the fields' converters, and
    ``Model.from_db`` builds the instance, as the ORM does. ``sample_pk`` is any value of
    the primary key's type, used to compile the query and never read.
    """

    def __init__(self, model: type[M], *, sample_pk: Any) -> None:
        self.model = model
        self.sample_pk = sample_pk
        self._compiled: WeakKeyDictionary[BaseDatabaseWrapper, tuple[str, Any, dict]] = (
            WeakKeyDictionary()
        )

    def get(self, pk: Any) -> M | None:
        """The row whose primary key is ``pk`` as a model instance, or None."""
        alias = router.db_for_read(self.model)
        connection = connections[alias]
        sql, compiler, converters = self._compile(connection, alias)
        with connection.cursor() as cursor:
            cursor.execute(sql, [self.model._meta.pk.get_db_prep_value(pk, connection)])
            row = cursor.fetchone()
        if row is None:
            return None
        (values,) = compiler.apply_converters([row], converters)
        return self.model.from_db(alias, None, values)

    def _compile(self, connection: BaseDatabaseWrapper, alias: str) -> tuple[str, Any, dict]:
        """The SQL, compiler and converters for ``connection``: its converters are its own."""
        compiled = self._compiled.get(connection)
        if compiled is None:
            query = self.model._base_manager.filter(pk=self.sample_pk).order_by().query
            compiler = query.get_compiler(using=alias)
            sql, params = compiler.as_sql()
            if len(params) != 1:
                raise ValueError(f"A lookup by primary key took {len(params)} parameters.")
            columns = [column for column, _, _ in compiler.select]
            if [column.target for column in columns] != list(self.model._meta.concrete_fields):
                raise ValueError("A lookup by primary key must read every concrete field.")
            compiled = self._compiled[connection] = (
                sql,
                compiler,
                compiler.get_converters(columns),
            )
        return compiled
