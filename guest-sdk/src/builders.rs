//! Typed builders for the activities a bot returns.

use crate::{
    ActionKind, Activity, Card, CardAction, CardKind, CardLayout, FileRef, ForwardTarget, KeyValue,
    Message, OfflineEmail, RichCardList, SendHeroCard,
};

fn pairs<K: Into<String>, V: Into<String>>(
    items: impl IntoIterator<Item = (K, V)>,
) -> Vec<KeyValue> {
    items
        .into_iter()
        .map(|(key, value)| KeyValue {
            key: key.into(),
            value: value.into(),
        })
        .collect()
}

impl Activity {
    /// A text message (the HTML subset `<strong>`, `<em>`, `<a>` is kept by mluvii).
    pub fn text(text: impl Into<String>) -> Self {
        Message::text(text).into()
    }

    /// A text with buttons under it (one hero card whose title is `text`); a click comes back
    /// as a `text` event carrying the button's value.
    pub fn buttons(text: impl Into<String>, buttons: impl IntoIterator<Item = CardAction>) -> Self {
        let mut card = Card::hero(text);
        card.buttons = buttons.into_iter().collect();
        Message::cards(None, [card]).into()
    }

    /// Cards shown as a carousel.
    pub fn carousel(cards: impl IntoIterator<Item = Card>) -> Self {
        Message::cards(Some(CardLayout::Carousel), cards).into()
    }

    /// Cards shown as a list.
    pub fn card_list(cards: impl IntoIterator<Item = Card>) -> Self {
        Message::cards(Some(CardLayout::List), cards).into()
    }

    /// A text with quick replies; the guest's input is hidden until one is chosen.
    pub fn suggested(
        text: impl Into<String>,
        actions: impl IntoIterator<Item = CardAction>,
    ) -> Self {
        let mut message = Message::text(text);
        message.suggested_actions = actions.into_iter().collect();
        message.into()
    }

    /// Shows (`true`) or hides the typing indicator.
    pub fn typing(show: bool) -> Self {
        Activity::Typing(show)
    }

    /// Returns the session to mluvii's routing (which re-evaluates the call params).
    pub fn hand_off() -> Self {
        Activity::HandOff
    }

    /// Transfers the session to an operator group, ignoring its capacity.
    pub fn forward_to_group(group_id: i32) -> Self {
        Activity::Forward(ForwardTarget::Group(group_id))
    }

    /// Transfers the session to an operator, ignoring their capacity.
    pub fn forward_to_user(user_id: i32) -> Self {
        Activity::Forward(ForwardTarget::User(user_id))
    }

    /// Ends the session.
    pub fn end_conversation() -> Self {
        Activity::EndConversation
    }

    /// Sets session (call) params, e.g. `[("HandoffReason", "Sales")]`.
    pub fn set_call_params<K: Into<String>, V: Into<String>>(
        params: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Activity::SetCallParams(pairs(params))
    }

    /// Asks for the state of the groups routing would pick now (answered by a
    /// `get-available-groups-response` event).
    pub fn get_available_groups() -> Self {
        Activity::GetAvailableGroups(None)
    }

    /// Asks for the state of these groups.
    pub fn get_groups(group_ids: impl IntoIterator<Item = i32>) -> Self {
        Activity::GetAvailableGroups(Some(group_ids.into_iter().collect()))
    }

    /// Sends an e-mail as if the guest had filled in the offline form.
    pub fn offline_email(
        subject: impl Into<String>,
        message: impl Into<String>,
        location: impl Into<String>,
    ) -> Self {
        Activity::SendGuestOfflineEmail(OfflineEmail {
            subject: subject.into(),
            message: message.into(),
            location: location.into(),
        })
    }

    /// Sends mluvii hero card `hero_card_id` with pre-filled fields.
    pub fn send_hero_card<K: Into<String>, V: Into<String>>(
        hero_card_id: i32,
        initial_params: impl IntoIterator<Item = (K, V)>,
        language: Option<&str>,
    ) -> Self {
        Activity::SendHeroCard(SendHeroCard {
            hero_card_id,
            initial_params: pairs(initial_params),
            selected_language: language.map(str::to_owned),
            whats_app: None,
        })
    }

    /// Shares a file stored in mluvii, by name.
    pub fn share_file(name: impl Into<String>) -> Self {
        Activity::ShareFile(FileRef::Name(name.into()))
    }

    /// Shares an externally hosted file.
    pub fn share_url(url: impl Into<String>) -> Self {
        Activity::ShareFile(FileRef::Url(url.into()))
    }

    /// Typed rich cards (mluvii's `RichCardList`).
    pub fn rich_cards(layout: CardLayout, items: impl IntoIterator<Item = Card>) -> Self {
        Activity::RichCardList(RichCardList {
            layout,
            items: items.into_iter().collect(),
        })
    }

    /// Any Send API body mluvii accepts, as JSON; the host adds `sessionId`.
    pub fn raw(json: &serde_json::Value) -> Self {
        Activity::Raw(json.to_string())
    }
}

impl Message {
    /// A message with only text.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: Some(text.into()),
            cards: Vec::new(),
            layout: None,
            suggested_actions: Vec::new(),
            ignoring_input: false,
        }
    }

    /// A message with only cards.
    pub fn cards(layout: Option<CardLayout>, cards: impl IntoIterator<Item = Card>) -> Self {
        Self {
            text: None,
            cards: cards.into_iter().collect(),
            layout,
            suggested_actions: Vec::new(),
            ignoring_input: false,
        }
    }

    /// Disables the guest's input after this message.
    pub fn ignoring_input(mut self) -> Self {
        self.ignoring_input = true;
        self
    }
}

impl From<Message> for Activity {
    fn from(message: Message) -> Self {
        Activity::Message(message)
    }
}

impl Card {
    /// A hero card with a title.
    pub fn hero(title: impl Into<String>) -> Self {
        Self {
            kind: CardKind::Hero,
            title: Some(title.into()),
            subtitle: None,
            text: None,
            images: Vec::new(),
            buttons: Vec::new(),
        }
    }

    /// A thumbnail card with a title.
    pub fn thumbnail(title: impl Into<String>) -> Self {
        Self {
            kind: CardKind::Thumbnail,
            ..Self::hero(title)
        }
    }

    /// Sets the subtitle.
    pub fn subtitle(mut self, subtitle: impl Into<String>) -> Self {
        self.subtitle = Some(subtitle.into());
        self
    }

    /// Sets the body text.
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// Adds an image URL.
    pub fn image(mut self, url: impl Into<String>) -> Self {
        self.images.push(url.into());
        self
    }

    /// Adds a button.
    pub fn button(mut self, button: CardAction) -> Self {
        self.buttons.push(button);
        self
    }
}

impl CardAction {
    /// A button that "says" `value` back to the bot (a `text` event).
    pub fn im_back(title: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            kind: ActionKind::ImBack,
            title: title.into(),
            value: value.into(),
            image: None,
        }
    }

    /// A button that opens `url`.
    pub fn open_url(title: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            kind: ActionKind::OpenUrl,
            title: title.into(),
            value: url.into(),
            image: None,
        }
    }
}
