"""Queueing, sending and recording messages: email and SMS alike, then email through SMTP."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import pytest
from celery import Task
from django.db import transaction

from keyhouse.delivery.models import Delivery
from keyhouse.delivery.services import email_enqueue, sms_enqueue
from keyhouse.delivery.tasks import deliver_email, deliver_sms
from keyhouse.delivery.testing import free_port, smtp_mailers, tasks_sent_to
from keyhouse.testing import holds_in_clear

pytestmark = [
    pytest.mark.django_db,
    # Django 6.1 deprecates the pre-MAILERS mail API; sending must not touch it.
    pytest.mark.filterwarnings("error::django.utils.deprecation.RemovedInDjango2028Warning"),
]

CODE = "042917"
CONTEXT = {"code": CODE, "expires_minutes": 10}


def enqueue_verification(**kwargs) -> Delivery:
    return email_enqueue(to="ada@example.com", template="verify_email", context=CONTEXT, **kwargs)


@dataclass(frozen=True)
class Channel:
    enqueue: Callable[..., Delivery]  # takes template and context
    template: str  # the verification code's template
    outbox: list
    task: Task


@pytest.fixture(params=["email", "sms"])
def channel(request) -> Channel:
    """Each channel's enqueue, with the outbox where its messages land."""
    if request.param == "email":
        return Channel(
            enqueue=partial(email_enqueue, to="ada@example.com"),
            template="verify_email",
            outbox=request.getfixturevalue("mailoutbox"),
            task=deliver_email,
        )
    return Channel(
        enqueue=partial(sms_enqueue, to="+442079460958"),
        template="verify_phone",
        outbox=request.getfixturevalue("sms_outbox"),
        task=deliver_sms,
    )


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_sends_nothing(channel):
    def sign_up_failing_after_the_message() -> None:
        with transaction.atomic():
            channel.enqueue(template=channel.template, context=CONTEXT)
            raise RuntimeError("the sign-up failed after queueing its message")

    with pytest.raises(RuntimeError):
        sign_up_failing_after_the_message()

    assert channel.outbox == []
    assert not Delivery.objects.exists()


def test_a_broker_that_is_down_leaves_the_delivery_queued_and_logs_no_code(
    channel, caplog, django_capture_on_commit_callbacks
):
    with (
        tasks_sent_to(f"redis://127.0.0.1:{free_port()}/0"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        delivery = channel.enqueue(template=channel.template, context=CONTEXT)

    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.QUEUED
    assert "Error calling _delivery_queue.<locals>.queue in on_commit()" in caplog.text
    assert not holds_in_clear(caplog.text, CODE)
    assert channel.outbox == []


def test_the_database_never_holds_the_code(channel, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        channel.enqueue(template=channel.template, context=CONTEXT)

    assert len(channel.outbox) == 1
    [row] = Delivery.objects.values()
    assert not holds_in_clear(row, CODE)


def test_a_missing_template_fails_at_once(channel, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        delivery = channel.enqueue(template="no_such_template", context={})

    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.attempts == 1
    assert delivery.last_error.startswith("TemplateDoesNotExist")
    assert channel.outbox == []


def test_a_task_handed_out_twice_sends_once(channel, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        delivery = channel.enqueue(template=channel.template, context=CONTEXT)
    channel.task.delay(str(delivery.id), CONTEXT)

    assert len(channel.outbox) == 1
    delivery.refresh_from_db()
    assert delivery.attempts == 1


@pytest.mark.django_db(transaction=True)
def test_email_goes_out_through_smtp_once_the_transaction_commits(smtp_mailer, user, settings):
    with transaction.atomic():
        delivery = enqueue_verification(user=user)
        assert smtp_mailer.messages == []

    [message] = smtp_mailer.messages
    assert message["To"] == "ada@example.com"
    assert message["From"] == settings.DEFAULT_FROM_EMAIL
    assert message["Subject"] == "Verify your email address for Keyhouse"
    assert CODE in message.get_body(("plain",)).get_content()
    assert CODE in message.get_body(("html",)).get_content()
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SENT
    assert delivery.attempts == 1
    assert delivery.sent_at is not None
    assert delivery.provider_message_id == message["Message-ID"]
    assert delivery.user == user


def test_an_unreachable_server_is_retried_then_recorded_failed(
    settings, django_capture_on_commit_callbacks
):
    settings.MAILERS = smtp_mailers(free_port())
    settings.KEYHOUSE_DELIVERY_MAX_RETRIES = 2
    with django_capture_on_commit_callbacks(execute=True):
        delivery = enqueue_verification()

    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.attempts == 3
    assert delivery.last_error.startswith("ConnectionRefusedError")
    assert delivery.sent_at is None


def test_a_permanently_refused_recipient_fails_without_retrying(
    smtp_mailer, django_capture_on_commit_callbacks
):
    smtp_mailer.rcpt_replies.extend(["550 5.1.1 No such user"] * 3)
    with django_capture_on_commit_callbacks(execute=True):
        delivery = enqueue_verification()

    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.attempts == 1
    assert "550" in delivery.last_error
    assert "No such user" in delivery.last_error
    assert len(smtp_mailer.rcpt_replies) == 2


def test_a_temporarily_refused_recipient_is_retried(
    smtp_mailer, django_capture_on_commit_callbacks
):
    smtp_mailer.rcpt_replies.append("451 4.7.1 Greylisted, try again later")
    with django_capture_on_commit_callbacks(execute=True):
        delivery = enqueue_verification()

    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SENT
    assert delivery.attempts == 2
    assert "451" in delivery.last_error
    assert len(smtp_mailer.messages) == 1


@pytest.mark.parametrize(
    ("template", "context", "subject", "says"),
    [
        ("verify_email", CONTEXT, "Verify your email address for Keyhouse", CODE),
        ("password_reset", CONTEXT, "Reset your Keyhouse password", CODE),
        (
            "signup_existing_account",
            {},
            "Someone tried to sign up to Keyhouse with your address",
            "Reset it from the sign-in page",
        ),
    ],
)
def test_each_template_renders_text_and_html(
    template, context, subject, says, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        email_enqueue(to="ada@example.com", template=template, context=context)

    [message] = mailoutbox
    [(html, mimetype)] = message.alternatives
    assert message.subject == subject
    assert says in message.body
    assert says in html
    assert mimetype == "text/html"


def test_existing_account_notice_carries_no_code(mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        email_enqueue(to="ada@example.com", template="signup_existing_account", context={})

    [message] = mailoutbox
    assert not any(character.isdigit() for character in message.body)


def test_product_name_and_support_address_come_from_settings(
    settings, mailoutbox, django_capture_on_commit_callbacks
):
    settings.KEYHOUSE_PRODUCT_NAME = "Ada & Co's"
    settings.KEYHOUSE_SUPPORT_EMAIL = "help@example.com"
    with django_capture_on_commit_callbacks(execute=True):
        enqueue_verification()

    [message] = mailoutbox
    [(html, _mimetype)] = message.alternatives
    assert message.subject == "Verify your email address for Ada & Co's"
    assert "Your Ada & Co's verification code" in message.body
    assert "Your Ada &amp; Co&#x27;s verification code" in html
    assert "Write to help@example.com." in message.body
    assert 'href="mailto:help@example.com"' in html
