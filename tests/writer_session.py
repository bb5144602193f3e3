"""What the writer processes of the tests share (``writer.py``,
``outbox_writer.py``): a connection with a transaction manager of its
own, the goal events heard after commit, and units of work committed
with retries on conflicts, counted.

The scripts run as ``python tests/X.py``: this module is found beside
them (the script's folder comes first on ``sys.path``).
"""

import transaction

from cybertools_tracking.db import get_storage, open_db, retry_transaction
from cybertools_tracking.goals import EVENT_ALL


class WriterSession:
    """The storage of the database at ``uri``, for one writer process.

    ``heard`` lists ``[code, group_id, name]`` of every goal event that
    reached an after-commit listener; ``retries`` counts the attempts
    that ``commit`` repeated.
    """

    ATTEMPTS = 100

    def __init__(self, uri):
        self.db = open_db(uri)
        self.manager = transaction.TransactionManager()
        self.connection = self.db.open(self.manager)
        self.storage = get_storage(self.connection, create=False)
        self.heard = []
        self.retries = 0
        for code in EVENT_ALL:
            self.storage.goals.add_listener(code, when='after_commit',
                                            callback=self._heard)

    def _heard(self, event):
        self.heard.append([event.code, event.group_id, event.name])

    def _retried(self, attempt, error):
        self.retries += 1

    def commit(self, work):
        """Run ``work()`` in a transaction, repeated after a conflict;
        returns its result."""
        return retry_transaction(work, self.manager, attempts=self.ATTEMPTS,
                                 on_retry=self._retried)

    def close(self):
        self.connection.close()
        self.db.close()
