/** Every test file of web/test/, for the browser bundle (kept in step with that folder by a check in the Python test). */

import "../account_changes.test.js";
import "../attacks.test.js";
import "../checkpoint.test.js";
import "../client.test.js";
import "../consents.test.js";
import "../directory.test.js";
import "../documents_listing.test.js";
import "../envelope.test.js";
import "../hpke.test.js";
import "../journal.test.js";
import "../journal_check.test.js";
import "../keystore.test.js";
import "../manifest.test.js";
import "../merkle.test.js";
import "../page_boundary.test.js";
import "../password_strength.test.js";
import "../pieces.test.js";
import "../practices.test.js";
import "../proof_of_work.test.js";
import "../registration.test.js";
import "../release_check.test.js";
import "../signature.test.js";
import "../worker.test.js";
import "../worker_attacks.test.js";
import "../wrap.test.js";
import "../xwing.test.js";
