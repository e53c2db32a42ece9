from rest_framework import serializers

from accounts.models import Organization, User


class OrganizationSerializer(serializers.ModelSerializer[Organization]):
    level = serializers.SerializerMethodField()

    class Meta:
        model = Organization
        fields = ["id", "code", "name", "kind", "level"]

    def get_level(self, obj: Organization) -> str | None:
        return obj.level or None


class InstitutionSerializer(serializers.ModelSerializer[Organization]):
    class Meta:
        model = Organization
        fields = ["code", "name", "kind"]


class MeSerializer(serializers.ModelSerializer[User]):
    organization = OrganizationSerializer(allow_null=True)

    class Meta:
        model = User
        fields = ["username", "role", "organization"]
