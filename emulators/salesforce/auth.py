# mypy: disable-error-code="misc"
# (mixin methods take ``self: SalesforceEmulator``, the class they are mixed into: mypy
# checks their bodies against it but calls a self-type that is a subclass an error)
"""Logins of the Salesforce emulator: SOAP, OAuth password and JWT bearer flows."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING
from xml.dom import minidom

import jwt

from emulators.salesforce.objects import (
    ORG_ID,
    _Answer,
    _answer,
)

if TYPE_CHECKING:
    from emulators.salesforce.api import SalesforceEmulator


class AuthMixin:
    """The login endpoints; each success issues a session id (``new_session``)."""

    def _soap_login(self: SalesforceEmulator, body: bytes) -> _Answer:
        try:
            dom = minidom.parseString(body)
            user = dom.getElementsByTagNameNS("*", "username")[0].firstChild
            pwd = dom.getElementsByTagNameNS("*", "password")[0].firstChild
            username = user.nodeValue if user is not None else ""
            password = pwd.nodeValue if pwd is not None else ""
        except Exception:  # any unreadable envelope is a failed login, as on Salesforce
            username, password = "", None
        if password is None or self.users.get(username or "") != password:
            fault = (
                '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv='
                '"http://schemas.xmlsoap.org/soap/envelope/" xmlns:sf="urn:fault.partner.soap.'
                'sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
                "<soapenv:Fault><faultcode>sf:INVALID_LOGIN</faultcode><faultstring>INVALID_LOGIN:"
                " Invalid username, password, security token; or user locked out.</faultstring>"
                '<detail><sf:LoginFault xsi:type="sf:LoginFault"><sf:exceptionCode>INVALID_LOGIN'
                "</sf:exceptionCode><sf:exceptionMessage>Invalid username, password, security "
                "token; or user locked out.</sf:exceptionMessage></sf:LoginFault></detail>"
                "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
            )
            return _Answer(500, fault.encode(), "text/xml;charset=UTF-8")
        sid = self.new_session()
        server = f"{self.instance_url}/services/Soap/u/59.0/{ORG_ID[:15]}"
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv='
            '"http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com">'
            "<soapenv:Body><loginResponse><result><metadataServerUrl>"
            f"{self.instance_url}/services/Soap/m/59.0/{ORG_ID[:15]}</metadataServerUrl>"
            "<passwordExpired>false</passwordExpired><sandbox>false</sandbox>"
            f"<serverUrl>{server}</serverUrl><sessionId>{sid}</sessionId>"
            f"<userId>{self.user_id}</userId></result></loginResponse></soapenv:Body>"
            "</soapenv:Envelope>"
        )
        return _Answer(200, xml.encode(), "text/xml;charset=UTF-8")

    def _token(self: SalesforceEmulator, form: dict[str, list[str]]) -> _Answer:
        def one(name: str) -> str:
            return (form.get(name) or [""])[0]

        def refuse(error: str, description: str) -> _Answer:
            return _answer(400, {"error": error, "error_description": description})

        grant = one("grant_type")
        if grant == "password":
            app = self.apps.get(one("client_id"))
            if app is None or app["secret"] != one("client_secret"):
                return refuse("invalid_client_id", "client identifier invalid")
            if self.users.get(one("username")) != one("password"):
                return refuse("invalid_grant", "authentication failure")
        elif grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            assertion = one("assertion")
            try:
                claims = jwt.decode(assertion, options={"verify_signature": False})
            except jwt.PyJWTError:
                return refuse("invalid_grant", "invalid assertion")
            app = self.apps.get(str(claims.get("iss")))
            if app is None:
                return refuse("invalid_client_id", "client identifier invalid")
            if app.get("public_key") is not None:
                try:
                    jwt.decode(
                        assertion,
                        app["public_key"],
                        algorithms=["RS256"],
                        options={"verify_exp": False, "verify_aud": False},
                    )
                except jwt.PyJWTError:
                    return refuse("invalid_grant", "invalid signature")
            if str(claims.get("sub")) not in self.users:
                return refuse("invalid_grant", "user hasn't approved this consumer")
            aud = str(claims.get("aud", ""))
            if not re.fullmatch(r"https://[\w.\-]+\.salesforce\.com", aud):
                return refuse("invalid_grant", "audience is invalid")
            try:
                exp = int(claims.get("exp", 0))
            except (TypeError, ValueError):
                return refuse("invalid_grant", "invalid assertion")
            if not time.time() < exp <= time.time() + 600:
                return refuse("invalid_grant", "expired authorization code")
        else:
            return refuse("unsupported_grant_type", "grant type not supported")
        return _answer(
            200,
            {
                "access_token": self.new_session(),
                "instance_url": self.instance_url,
                "id": f"https://login.salesforce.com/id/{ORG_ID}/{self.user_id}",
                "token_type": "Bearer",
                "issued_at": str(int(time.time() * 1000)),
                "scope": "api",
            },
        )
