# Copyright (c) 2025, awm_frappe contributors
# For license information, please see license.txt

from frappe.model.document import Document


class CommunicationCampaignPatch(Document):
    pass
