"""The decision's tests: python3 -m unittest (nothing to build)."""

import unittest

from decide import Grant, User, decide

ADA = '{"id": "u-ada", "status": "active", "manager_id": "u-grace", "new_field": 1}'


class Decide(unittest.TestCase):
    def test_a_privileged_entitlement_is_reviewed(self):
        d = decide(User.from_json(ADA), "github:admin", [])
        self.assertEqual(d["decision"], "review")
        self.assertEqual(d["reasons"], ["github:admin is privileged"])

    def test_what_is_held_is_approved_and_a_disabled_user_denied(self):
        held = Grant.from_json('{"entitlement": "github:admin", "app": "github", "slug": "admin"}')
        d = decide(User.from_json(ADA), "github:admin", [held])
        self.assertEqual((d["decision"], d["grants"]), ("approve", 1))
        disabled = User(id="u-ada", status="disabled")
        self.assertEqual(decide(disabled, "github:wiki", [])["decision"], "deny")


if __name__ == "__main__":
    unittest.main()
