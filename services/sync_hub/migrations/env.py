from services.sync_hub.audit import models as _audit  # noqa: F401  (register tables)
from services.sync_hub.checks import models as _checks  # noqa: F401
from services.sync_hub.db import HubTable
from services.sync_hub.jobs.schema import hub_owns
from services.sync_hub.ledger import models as _ledger  # noqa: F401
from services.sync_hub.matching import model_store as _matching  # noqa: F401  (register tables)
from services.sync_hub.mirror import models as _mirror  # noqa: F401
from services.sync_hub.provenance import models as _provenance  # noqa: F401  (register tables)
from services.sync_hub.replica import models as _replica  # noqa: F401
from services.sync_hub.review import models as _review  # noqa: F401
from services.sync_hub.risk import models as _risk  # noqa: F401
from services.sync_hub.runs import models as _runs  # noqa: F401
from services.sync_hub.verification import models as _verification  # noqa: F401
from shared.db import run_migrations_env

run_migrations_env(HubTable.metadata, include_name=hub_owns)
